//! The PyO3 boundary: module `codex_convert_proxy._rust` (contract §7), built with feature `python`.
//!
//! Bytes in, bytes out: one `bytes` object per call, never a Python object per event. Every entry
//! point runs under `catch_unwind`, so a Rust panic becomes
//! `ConversionError("internal engine error: …")` instead of a crash, and an `EngineError` becomes
//! `ConversionError(message)`. The GIL is kept: every call is short.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::error::EngineError;
use crate::profiles;
use crate::request;
use crate::response;
use crate::sse;
use crate::stream::Translator;

// Imported at run time from the pure-Python package, so that both engines raise the same class.
pyo3::import_exception!(codex_convert_proxy.errors, ConversionError);

/// A buffer larger than this is not kept between calls (one huge read must not pin its memory).
const KEEP_OUTPUT_CAPACITY: usize = 1 << 20;

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "panic"
    }
}

fn internal_error(payload: &(dyn std::any::Any + Send)) -> PyErr {
    ConversionError::new_err(format!("internal engine error: {}", panic_message(payload)))
}

/// Run engine code: a panic or an `EngineError` becomes a `ConversionError`.
fn guard<T>(f: impl FnOnce() -> Result<T, EngineError>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(ConversionError::new_err(err.message)),
        Err(payload) => Err(internal_error(&*payload)),
    }
}

/// Chat Completions SSE bytes in, Responses SSE bytes out (contract §3).
#[pyclass(module = "codex_convert_proxy._rust", name = "StreamTranslator")]
struct PyStreamTranslator {
    inner: Translator,
    /// Reused output buffer: one allocation for the life of the stream, not one per call.
    out: Vec<u8>,
    /// A panic left `inner` in an unknown state: refuse further calls.
    broken: bool,
}

impl PyStreamTranslator {
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        step: impl FnOnce(&mut Translator, &mut Vec<u8>),
    ) -> PyResult<Bound<'py, PyBytes>> {
        if self.broken {
            return Err(ConversionError::new_err(
                "internal engine error: translator unusable after an earlier internal error",
            ));
        }
        self.out.clear();
        let (inner, out) = (&mut self.inner, &mut self.out);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| step(inner, out))) {
            self.broken = true;
            self.out = Vec::new();
            return Err(internal_error(&*payload));
        }
        let bytes = PyBytes::new(py, &self.out);
        if self.out.capacity() > KEEP_OUTPUT_CAPACITY {
            self.out = Vec::new();
        }
        Ok(bytes)
    }
}

#[pymethods]
impl PyStreamTranslator {
    #[new]
    #[pyo3(signature = (provider, model, response_id, created_at, tool_map=None, echo=None))]
    fn new(
        provider: &str,
        model: &str,
        response_id: &str,
        created_at: i64,
        tool_map: Option<&[u8]>,
        echo: Option<&[u8]>,
    ) -> PyResult<Self> {
        let inner = guard(|| {
            Translator::new(
                profiles::profile(provider),
                model,
                response_id,
                created_at,
                tool_map,
                echo,
            )
        })?;
        Ok(PyStreamTranslator {
            inner,
            out: Vec::new(),
            broken: false,
        })
    }

    /// `response.created` and `response.in_progress` (once; `feed` implies it).
    fn start<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.run(py, |t, out| t.start(out))
    }

    /// Any slice of the upstream body → the Responses SSE bytes it completes.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        self.run(py, |t, out| t.feed(data, out))
    }

    /// Upstream EOF → the closing events and exactly one terminal event.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.run(py, |t, out| t.finish(out))
    }

    /// Fail the response now (`response.failed`), e.g. on an upstream read error.
    fn fail<'py>(
        &mut self,
        py: Python<'py>,
        code: &str,
        message: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.run(py, |t, out| t.fail(code, message, out))
    }

    /// A `response.in_progress` event for a long upstream silence (empty once done).
    fn keepalive<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.run(py, |t, out| t.keepalive(out))
    }

    #[getter]
    fn status(&self) -> PyResult<&'static str> {
        guard(|| Ok(self.inner.status()))
    }

    #[getter]
    fn done(&self) -> PyResult<bool> {
        guard(|| Ok(self.inner.is_done()))
    }

    /// The response JSON of the terminal event, once sent.
    #[getter]
    fn terminal_response<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        guard(|| Ok(self.inner.terminal_response().map(|r| PyBytes::new(py, r))))
    }

    /// Dropped/degraded features reported so far (unique, first-seen order).
    #[getter]
    fn degraded<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| Ok(self.inner.degraded().to_vec())).and_then(|names| PyTuple::new(py, names))
    }

    /// Events emitted so far, by type (non-zero counts only).
    fn event_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counts = guard(|| Ok(self.inner.event_counts()))?;
        let dict = PyDict::new(py);
        for (name, count) in counts {
            dict.set_item(name, count)?;
        }
        Ok(dict)
    }
}

/// Responses request JSON → Chat Completions request JSON (contract §4).
/// Returns `(body, degraded, tool_map, echo, stream, model)`.
#[pyfunction]
#[pyo3(signature = (body, provider, model=None))]
#[allow(clippy::type_complexity)]
fn convert_request<'py>(
    py: Python<'py>,
    body: &[u8],
    provider: &str,
    model: Option<&str>,
) -> PyResult<(
    Bound<'py, PyBytes>,
    Vec<String>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    bool,
    String,
)> {
    let converted = guard(|| request::convert_request(body, profiles::profile(provider), model))?;
    Ok((
        PyBytes::new(py, &converted.body),
        converted.degraded,
        PyBytes::new(py, &converted.tool_map),
        PyBytes::new(py, &converted.echo),
        converted.stream,
        converted.model,
    ))
}

/// Chat Completions response JSON → Responses response JSON. Returns `(body, degraded)`.
#[pyfunction]
#[pyo3(signature = (body, provider, model, response_id, created_at, tool_map=None, echo=None))]
#[allow(clippy::too_many_arguments)]
fn convert_response<'py>(
    py: Python<'py>,
    body: &[u8],
    provider: &str,
    model: Option<&str>,
    response_id: &str,
    created_at: i64,
    tool_map: Option<&[u8]>,
    echo: Option<&[u8]>,
) -> PyResult<(Bound<'py, PyBytes>, Vec<String>)> {
    let converted = guard(|| {
        response::convert_response(
            body,
            profiles::profile(provider),
            model,
            response_id,
            created_at,
            tool_map,
            echo,
        )
    })?;
    Ok((PyBytes::new(py, &converted.body), converted.degraded))
}

/// SSE decoding alone (contract §2): `feed(b)`/`finish()` → the payloads as UTF-8 `bytes`.
#[pyclass(module = "codex_convert_proxy._rust", name = "SseDecoder")]
#[derive(Default)]
struct PySseDecoder {
    inner: sse::SseDecoder,
}

#[pymethods]
impl PySseDecoder {
    #[new]
    fn new() -> Self {
        PySseDecoder::default()
    }

    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let payloads = guard(|| {
            let mut payloads = Vec::new();
            self.inner
                .feed(data, |p| payloads.push(PyBytes::new(py, p)));
            Ok(payloads)
        })?;
        PyList::new(py, payloads)
    }

    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let payloads = guard(|| {
            let mut payloads = Vec::new();
            self.inner.finish(|p| payloads.push(PyBytes::new(py, p)));
            Ok(payloads)
        })?;
        PyList::new(py, payloads)
    }
}

/// `{"debug": bool, "version": str}`: benchmarks refuse a debug build.
#[pyfunction]
fn build_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = PyDict::new(py);
    info.set_item("debug", cfg!(debug_assertions))?;
    info.set_item("version", env!("CARGO_PKG_VERSION"))?;
    Ok(info)
}

/// Test hook: panics inside the guard, to prove a panic surfaces as ConversionError.
#[pyfunction]
fn _panic_for_tests(message: &str) -> PyResult<()> {
    guard(|| -> Result<(), EngineError> { panic!("{message}") })
}

#[pymodule]
#[pyo3(name = "_rust")]
fn rust_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStreamTranslator>()?;
    m.add_class::<PySseDecoder>()?;
    m.add_function(wrap_pyfunction!(convert_request, m)?)?;
    m.add_function(wrap_pyfunction!(convert_response, m)?)?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    Ok(())
}
