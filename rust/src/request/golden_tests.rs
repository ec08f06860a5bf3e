//! The request golden corpus (tests/fixtures/request_golden/, written by the Python engine):
//! the Rust engine must reproduce every record byte for byte. On a mismatch the Rust output is
//! written to target/request_golden_failures/ for diffing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::convert_request;
use crate::profiles::profile;

const BIG: usize = 4096;
const SYNTAX_ERROR_PREFIX: &str = "request body is not valid JSON";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/request_golden")
}

fn fnv64(data: &[u8]) -> String {
    let h = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{h:016x}")
}

fn jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split('\n')
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("fixture line is JSON"))
        .collect()
}

/// What Python's generate.py stores for one conversion.
fn result_record(body: &[u8], provider: &str, model: Option<&str>) -> (Value, Vec<u8>) {
    match convert_request(body, profile(provider), model) {
        Err(e) if e.message.starts_with(SYNTAX_ERROR_PREFIX) => (
            serde_json::json!({"error_prefix": SYNTAX_ERROR_PREFIX}),
            Vec::new(),
        ),
        Err(e) => (serde_json::json!({"error": e.message}), Vec::new()),
        Ok(res) => {
            let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("UTF-8 output");
            let body_value = if res.body.len() <= BIG {
                Value::String(text(&res.body))
            } else {
                serde_json::json!({"len": res.body.len(), "fnv64": fnv64(&res.body)})
            };
            (
                serde_json::json!({
                    "body": body_value,
                    "degraded": res.degraded,
                    "tool_map": text(&res.tool_map),
                    "echo": text(&res.echo),
                    "stream": res.stream,
                    "model": res.model,
                }),
                res.body,
            )
        }
    }
}

#[test]
fn rust_reproduces_the_python_golden_corpus() {
    let dir = fixture_dir();
    let mut bodies: HashMap<String, Vec<u8>> = HashMap::new();
    for case in jsonl(&dir.join("cases.jsonl")) {
        let name = case["name"].as_str().unwrap().to_owned();
        let body = match (&case["body"], &case["file"]) {
            (Value::String(b), _) => b.clone().into_bytes(),
            (_, Value::String(file)) => std::fs::read(dir.join(file)).unwrap(),
            _ => panic!("case {name} has no body"),
        };
        bodies.insert(name, body);
    }
    let golden = jsonl(&dir.join("golden.jsonl"));
    assert!(
        golden.len() >= 700,
        "golden corpus too small: {}",
        golden.len()
    );
    let failures_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/request_golden_failures");
    let mut failures = Vec::new();
    for record in &golden {
        let case = record["case"].as_str().unwrap();
        let provider = record["profile"].as_str().unwrap();
        let model = record["model"].as_str();
        let (got, body) = result_record(&bodies[case], provider, model);
        if got != record["result"] {
            std::fs::create_dir_all(&failures_dir).unwrap();
            let stem = format!("{case}-{provider}");
            std::fs::write(
                failures_dir.join(format!("{stem}.rust.json")),
                got.to_string(),
            )
            .unwrap();
            std::fs::write(failures_dir.join(format!("{stem}.rust-body.json")), &body).unwrap();
            std::fs::write(
                failures_dir.join(format!("{stem}.python.json")),
                record["result"].to_string(),
            )
            .unwrap();
            failures.push(stem);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden records differ (see {}): {:?}",
        failures.len(),
        golden.len(),
        failures_dir.display(),
        failures
    );
}
