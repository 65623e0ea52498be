//! rta-stream
