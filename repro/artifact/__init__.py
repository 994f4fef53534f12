"""Paper artifacts: pack runs for an evaluator, unpack them elsewhere, describe them (RO-Crate)."""
