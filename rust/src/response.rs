//! Non-streaming response conversion (Chat completion → Responses object). Pending the Python
//! reference (`engine/response.py`); see the report.
