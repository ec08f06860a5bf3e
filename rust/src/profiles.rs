//! STAND-IN (branch rstream): the real `profiles.rs` comes from branch `request`; take theirs on
//! merge. Only the fields the stream translator reads.
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThinkTags {
    Off,
    On,
    Implicit,
}

#[derive(Debug)]
pub struct Profile {
    pub name: &'static str,
    pub think_tags: ThinkTags,
}

static TABLE: OnceLock<Vec<(Vec<String>, &'static Profile)>> = OnceLock::new();

fn table() -> &'static Vec<(Vec<String>, &'static Profile)> {
    TABLE.get_or_init(|| {
        let raw: serde_json::Value =
            serde_json::from_str(include_str!("../../python/codex_convert_proxy/providers/profiles.json"))
                .expect("profiles.json");
        let mut out = Vec::new();
        for (name, fields) in raw.as_object().unwrap() {
            if name.starts_with('_') {
                continue;
            }
            let think_tags = match fields["think_tags"].as_str().unwrap() {
                "on" => ThinkTags::On,
                "implicit" => ThinkTags::Implicit,
                _ => ThinkTags::Off,
            };
            let name: &'static str = Box::leak(name.clone().into_boxed_str());
            let profile: &'static Profile = Box::leak(Box::new(Profile { name, think_tags }));
            let mut keys = vec![name.to_string()];
            for a in fields["aliases"].as_array().unwrap() {
                keys.push(a.as_str().unwrap().to_string());
            }
            out.push((keys, profile));
        }
        out
    })
}

pub fn profile(name: &str) -> &'static Profile {
    let key = name.trim().to_lowercase();
    let t = table();
    for (keys, p) in t {
        if keys.iter().any(|k| *k == key) {
            return p;
        }
    }
    t.iter().find(|(_, p)| p.name == "openai").unwrap().1
}
