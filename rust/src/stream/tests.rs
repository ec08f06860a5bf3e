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

/// Replay `input` saturated (64 KiB reads); events/s of upstream SSE events. The figure is the
/// best of many single replays (a few ms each): on a shared machine the minimum approximates the
/// uncontended cost, where a mean would measure the neighbours.
fn bench_one(label: &str, provider: &str, input: &[u8], replays: u32) {
    let mut events = 0u64;
    crate::sse::SseDecoder::new().feed(input, |_| events += 1);
    let mut out = Vec::with_capacity(8 << 20);
    let mut best = f64::MAX;
    for _ in 0..replays {
        let t0 = std::time::Instant::now();
        out.clear();
        let mut t = Translator::new(profile(provider), "model", "resp_0123456789abcdef", 1700000000, None, None).unwrap();
        for read in input.chunks(64 * 1024) {
            t.feed(read, &mut out);
        }
        t.finish(&mut out);
        assert!(t.is_done());
        best = best.min(t0.elapsed().as_secs_f64());
    }
    println!(
        "{label:<28} {provider:<9} {:>10.0} events/s {:>7.1} MB/s in  ({} events, {} B/event, {:.2} out/in)",
        events as f64 / best,
        input.len() as f64 / best / 1e6,
        events,
        input.len() as u64 / events.max(1),
        out.len() as f64 / input.len() as f64,
    );
}

/// `cargo test --release --lib bench_ -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_saturated_replay() {
    let synthetic = text_stream(5000);
    bench_one("synthetic_text_5000", "deepseek", &synthetic, 1000);
    bench_one("synthetic_text_5000", "openai", &synthetic, 1000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams");
    for (name, provider) in [
        ("bench_text_5000.sse", "deepseek"),
        ("bench_text_5000.sse", "openai"),
        ("bench_reasoning.sse", "deepseek"),
        ("bench_tool_calls.sse", "openai"),
        ("bench_minimax_think.sse", "minimax"),
    ] {
        let Ok(input) = std::fs::read(dir.join(name)) else {
            println!("{name}: not found, skipped");
            continue;
        };
        bench_one(name, provider, &input, 1000);
    }
}
