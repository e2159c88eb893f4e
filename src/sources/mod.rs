//! One module per source kind; each holds its config use, pure parsers and the collector.

pub mod git;
