//! rta-adapters
