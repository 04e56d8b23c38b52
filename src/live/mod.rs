//! Long-running work: `watch` keeps lanes synced as their upstreams move, `run` starts one
//! agent command per lane in DAG order.

pub mod run;
pub mod watch;
