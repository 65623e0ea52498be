//! rta-bindings
