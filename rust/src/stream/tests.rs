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

/// A typical ~250-byte text chunk stream of `n` deltas, ending with finish + usage + [DONE].
pub(crate) fn text_stream(n: usize) -> Vec<u8> {
    let mut s = Vec::new();
    for i in 0..n {
        s.extend_from_slice(format!(
            "data: {{\"id\":\"chatcmpl-9f8e7d6c5b4a\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"deepseek-chat\",\"system_fingerprint\":\"fp_abc123\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} of the answer, \\\"quoted\\\"\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ).as_bytes());
    }
    s.extend_from_slice(b"data: {\"id\":\"chatcmpl-9f8e7d6c5b4a\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    s.extend_from_slice(b"data: {\"id\":\"chatcmpl-9f8e7d6c5b4a\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"deepseek-chat\",\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":5000,\"total_tokens\":5100,\"prompt_tokens_details\":{\"cached_tokens\":64}}}\n\n");
    s.extend_from_slice(b"data: [DONE]\n\n");
    s
}

/// `cargo test --release --lib bench_ -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_saturated_text() {
    for provider in ["deepseek", "openai"] {
        let input = text_stream(5000);
        let events = 5003u64;
        let rounds = 200;
        let mut out = Vec::with_capacity(4 << 20);
        let t0 = std::time::Instant::now();
        for _ in 0..rounds {
            out.clear();
            let mut t = Translator::new(profile(provider), "deepseek-chat", "resp_0123456789", 1700000000, None, None).unwrap();
            for read in input.chunks(64 * 1024) {
                t.feed(read, &mut out);
            }
            t.finish(&mut out);
            assert!(t.is_done());
        }
        let dt = t0.elapsed().as_secs_f64();
        println!(
            "{provider}: {:.0} events/s, {:.1} MB/s upstream ({} bytes/event avg)",
            (events * rounds) as f64 / dt,
            (input.len() as u64 * rounds) as f64 / dt / 1e6,
            input.len() as u64 / events
        );
    }
}
