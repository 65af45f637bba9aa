//! End-to-end tests: the real binary against real DNS servers on loopback.

mod cli;
mod engines;
mod flags;
mod history;
mod knot;
mod probe;
mod reasons;
mod report;
mod unbound;
mod util;
