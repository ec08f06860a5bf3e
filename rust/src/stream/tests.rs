//! Translator tests: contract §3 rule by rule.
use super::*;
use crate::profiles::profile;

fn translate_with(provider: &str, parts: &[&[u8]], finish: bool) -> (String, Translator) {
    let mut t = Translator::new(profile(provider), "m", "resp_abc", 1700000000, None, None).unwrap();
    let mut out = Vec::new();
    for p in parts {
        t.feed(p, &mut out);
    }
    if finish {
        t.finish(&mut out);
    }
    (String::from_utf8(out).unwrap(), t)
}

#[test]
#[ignore]
fn dump() {
    let input = std::env::var("DUMP_INPUT").unwrap_or_default();
    let prov = std::env::var("DUMP_PROVIDER").unwrap_or("openai".into());
    let (out, t) = translate_with(&prov, &[input.as_bytes()], true);
    println!("{out}");
    println!("degraded: {:?}", t.degraded());
}
