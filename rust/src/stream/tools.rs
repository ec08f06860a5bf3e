//! Tool calls of a stream: fragment matching, argument accumulation (contract §3.4), and the
//! `tool_map` that says which names are custom tools or flattened namespace tools.
use crate::error::EngineError;
use crate::stream::chunk::{Fragment, Kind};
use std::collections::HashMap;

/// How a call is presented to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallKind {
    Function,
    Custom,
    /// A flattened namespace tool: the original name and its namespace.
    Namespace {
        namespace: String,
        name: String,
    },
}

/// One tool call, in creation order.
#[derive(Debug, Default)]
pub struct Call {
    /// The upstream id, once one arrived.
    pub id: Option<String>,
    /// The upstream `index`, when the creating fragment had one.
    pub index: Option<i128>,
    pub name: Option<String>,
    /// Accumulated arguments (all of them, sent or not).
    pub args: String,
    /// Set once visible (name known): its output_index.
    pub output_index: Option<u32>,
    /// The call_id announced in `output_item.added`.
    pub call_id: String,
    pub kind: Option<CallKind>,
    /// How many bytes of `args` went out as deltas.
    pub sent: usize,
    pub delta_sent: bool,
    pub closed: bool,
}

impl Call {
    /// Add an `arguments` fragment; cumulative fragments only add their new suffix.
    pub fn add_arguments(&mut self, f: &str) {
        let acc = &self.args;
        if f == acc {
            return;
        }
        if f.len() > acc.len() && !acc.is_empty() && f.starts_with(acc.as_str()) {
            let new = &f[acc.len()..];
            self.args.push_str(new);
        } else {
            self.args.push_str(f);
        }
    }
}

/// The calls of one stream and the fragment-matching rules.
#[derive(Debug, Default)]
pub struct Calls {
    pub list: Vec<Call>,
}

impl Calls {
    /// The call a fragment belongs to (created when needed); returns its position.
    pub fn match_fragment(&mut self, frag: &Fragment) -> usize {
        let id = frag.id.non_empty_str();
        let index = match frag.index.kind {
            Kind::Int(i) => Some(i),
            _ => None,
        };
        if let Some(id) = id {
            if let Some(pos) = self.list.iter().position(|c| c.id.as_deref() == Some(id)) {
                return pos;
            }
            if let Some(index) = index {
                if let Some(pos) = self.latest_with_index(index) {
                    if self.list[pos].id.is_none() {
                        self.list[pos].id = Some(id.to_string());
                        return pos;
                    }
                }
            }
            return self.create(Some(id), index);
        }
        match index {
            Some(index) => match self.latest_with_index(index) {
                Some(pos) => pos,
                None => self.create(None, Some(index)),
            },
            None => match self.list.len() {
                0 => self.create(None, None),
                n => n - 1,
            },
        }
    }

    fn latest_with_index(&self, index: i128) -> Option<usize> {
        self.list.iter().rposition(|c| c.index == Some(index))
    }

    fn create(&mut self, id: Option<&str>, index: Option<i128>) -> usize {
        self.list.push(Call {
            id: id.map(str::to_string),
            index,
            ..Call::default()
        });
        self.list.len() - 1
    }
}

/// `{"custom":[names],"namespaces":{"flat":["ns","name"]}}` from request conversion.
#[derive(Debug, Default)]
pub struct ToolMap {
    custom: Vec<String>,
    namespaces: HashMap<String, (String, String)>,
}

impl ToolMap {
    /// Parse the tool map; entries of the wrong shape are ignored (as in engine/stream.py).
    pub fn parse(raw: Option<&[u8]>) -> Result<ToolMap, EngineError> {
        let raw = match raw {
            Some(raw) if !raw.is_empty() => raw,
            _ => return Ok(ToolMap::default()),
        };
        let v = crate::json::parse_named(raw, "tool_map")?;
        let obj = v
            .as_object()
            .ok_or_else(|| EngineError::new("tool_map must be a JSON object"))?;
        let mut map = ToolMap::default();
        if let Some(serde_json::Value::Array(custom)) = obj.get("custom") {
            map.custom = custom
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect();
        }
        if let Some(serde_json::Value::Object(spaces)) = obj.get("namespaces") {
            for (flat, pair) in spaces {
                if let Some([serde_json::Value::String(ns), serde_json::Value::String(name)]) =
                    pair.as_array().map(Vec::as_slice)
                {
                    map.namespaces
                        .insert(flat.clone(), (ns.clone(), name.clone()));
                }
            }
        }
        Ok(map)
    }

    pub fn classify(&self, name: &str) -> CallKind {
        if self.custom.iter().any(|c| c == name) {
            CallKind::Custom
        } else if let Some((namespace, name)) = self.namespaces.get(name) {
            CallKind::Namespace {
                namespace: namespace.clone(),
                name: name.clone(),
            }
        } else {
            CallKind::Function
        }
    }
}

/// The input of a custom tool call from its arguments (contract §3.4); `None` when the arguments
/// are not of a recognised shape (the raw arguments are used and the caller reports it).
pub fn custom_input(args: &str) -> Option<String> {
    let v = crate::json::parse(args.as_bytes()).ok()?;
    match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(s)) = map.get("input") {
                return Some(s.clone());
            }
            if map.len() == 1 {
                if let Some(serde_json::Value::String(s)) = map.values().next() {
                    return Some(s.clone());
                }
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::chunk::Chunk;

    fn frags(json: &str) -> Chunk {
        let mut c = Chunk::default();
        c.parse(&format!(
            r#"{{"choices":[{{"delta":{{"tool_calls":{json}}}}}]}}"#
        ))
        .unwrap();
        c
    }

    fn feed(calls: &mut Calls, json: &str) -> Vec<usize> {
        let c = frags(json);
        c.choices()[0]
            .delta
            .fragments()
            .iter()
            .map(|f| calls.match_fragment(f))
            .collect()
    }

    #[test]
    fn matching_by_id_and_index() {
        let mut calls = Calls::default();
        assert_eq!(
            feed(&mut calls, r#"[{"index":0,"id":"a"},{"index":1,"id":"b"}]"#),
            vec![0, 1]
        );
        // Id-less fragments follow their index.
        assert_eq!(feed(&mut calls, r#"[{"index":1},{"index":0}]"#), vec![1, 0]);
        // A known id wins over the index.
        assert_eq!(feed(&mut calls, r#"[{"index":0,"id":"b"}]"#), vec![1]);
        // Neither: the most recent call.
        assert_eq!(feed(&mut calls, r#"[{}]"#), vec![1]);
        // A new id on an index whose latest call already has an id: a new call.
        assert_eq!(feed(&mut calls, r#"[{"index":0,"id":"c"}]"#), vec![2]);
        assert_eq!(feed(&mut calls, r#"[{"index":0}]"#), vec![2]);
    }

    #[test]
    fn id_arriving_later_is_taken() {
        let mut calls = Calls::default();
        assert_eq!(feed(&mut calls, r#"[{"index":0}]"#), vec![0]);
        assert_eq!(feed(&mut calls, r#"[{"index":0,"id":"x"}]"#), vec![0]);
        assert_eq!(calls.list[0].id.as_deref(), Some("x"));
        // Index given but unknown and no id: new call; no calls and nothing given: new call.
        let mut calls = Calls::default();
        assert_eq!(feed(&mut calls, r#"[{}]"#), vec![0]);
        assert_eq!(feed(&mut calls, r#"[{"index":3}]"#), vec![1]);
        // A non-integer index counts as absent; an empty id as absent.
        assert_eq!(feed(&mut calls, r#"[{"index":"3","id":""}]"#), vec![1]);
    }

    #[test]
    fn cumulative_arguments() {
        let mut c = Call::default();
        for f in ["{\"a\"", "{\"a\"", "{\"a\":1", "}", "}"] {
            c.add_arguments(f);
        }
        assert_eq!(c.args, "{\"a\":1}}");
        let mut c = Call::default();
        c.add_arguments("");
        c.add_arguments("x");
        c.add_arguments("xy");
        assert_eq!(c.args, "xy");
    }

    #[test]
    fn custom_inputs() {
        assert_eq!(
            custom_input(r#"{"input":"patch"}"#).as_deref(),
            Some("patch")
        );
        assert_eq!(custom_input(r#"{"x":1,"input":"p"}"#).as_deref(), Some("p"));
        assert_eq!(custom_input(r#"{"patch":"p"}"#).as_deref(), Some("p"));
        assert_eq!(custom_input(r#""s""#).as_deref(), Some("s"));
        assert_eq!(custom_input(r#"{"a":"1","b":"2"}"#), None);
        assert_eq!(custom_input("*** Begin Patch"), None);
        assert_eq!(custom_input("[1]"), None);
    }

    #[test]
    fn tool_map() {
        let m = ToolMap::parse(Some(
            br#"{"custom":["apply_patch"],"namespaces":{"mcp__fs__read":["mcp__fs","read"]}}"#,
        ))
        .unwrap();
        assert_eq!(m.classify("apply_patch"), CallKind::Custom);
        assert_eq!(
            m.classify("mcp__fs__read"),
            CallKind::Namespace {
                namespace: "mcp__fs".into(),
                name: "read".into()
            }
        );
        assert_eq!(m.classify("shell"), CallKind::Function);
        assert!(ToolMap::parse(Some(b"[]")).is_err());
        assert!(ToolMap::parse(Some(b"{")).is_err());
        assert!(ToolMap::parse(None).is_ok());
        // Entries of the wrong shape are ignored.
        let m = ToolMap::parse(Some(
            br#"{"custom":["a",1],"namespaces":{"x":["n"],"y":["n","y",1],"z":["n","zz"]}}"#,
        ))
        .unwrap();
        assert_eq!(m.classify("a"), CallKind::Custom);
        assert_eq!(m.classify("x"), CallKind::Function);
        assert_eq!(m.classify("y"), CallKind::Function);
        assert_eq!(
            m.classify("z"),
            CallKind::Namespace {
                namespace: "n".into(),
                name: "zz".into()
            }
        );
    }
}
