//! mlsteward measures shared ML resources and the people who keep them alive, and serves what
//! it learns as Prometheus metrics.
//!
//! The flow, and the module that owns each step:
//!
//! - [`config`]: the YAML file, decoded strictly and with positions. Only this module knows YAML.
//! - [`scheduler`]: runs each source on its own schedule.
//! - [`collector`]: the closed set of collectors, their errors and context.
//! - [`sources`]: one module per source kind (today: [`sources::git`]). Each returns
//!   [`facts`] and never touches the store, the server or the exposition.
//! - [`store`]: the SQLite fact store, one transaction per collection. Only this module knows SQL.
//! - [`derive`](mod@derive): stored facts → metric families.
//! - [`exposition`]: families → the Prometheus text format, rendered once per collection.
//! - [`server`]: HTTP serving of the cached snapshot.
//! - [`app`]: the shared runtime state that ties them together.
//!
//! The README's Architecture section has the invariants and cross-cutting concerns.

pub mod app;
pub mod collector;
pub mod config;
pub mod derive;
pub mod exposition;
pub mod facts;
pub mod people;
pub mod report;
pub mod scheduler;
pub mod server;
pub mod sources;
pub mod store;
