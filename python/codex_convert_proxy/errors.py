"""Exceptions raised by the conversion engines (both engines raise the same classes)."""


class ConversionError(ValueError):
    """The input could not be converted: malformed JSON, a wrong shape, or an engine fault.

    The message says what is wrong and is safe to show to a client (it never holds a traceback
    or a secret). A panic inside the Rust engine surfaces as this exception too.
    """
