//! One module per source kind; each holds its config use, pure parsers and the collector.
//! `http` is the upstream HTTP client every HTTP source shares.

pub mod git;
pub mod http;
