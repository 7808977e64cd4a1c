//! End-to-end tests of the whole platform live in `tests/`: a real site server on loopback, many
//! headless candidates, faults injected. This library is empty on purpose.
