//! PLACEHOLDER (wire branch): only the contract §7 signatures, so that python.rs compiles.
//! The real module (parsed from providers/profiles.json) comes from another branch on merge.

#[derive(Debug)]
pub struct Profile {
    pub name: &'static str,
}

static OPENAI: Profile = Profile { name: "openai" };

/// Placeholder: every name resolves to the generic profile.
pub fn profile(_name: &str) -> &'static Profile {
    &OPENAI
}
