//! The input reader lives in the library ([`prebounce::input`], where the
//! fuzz targets and property tests reach it); this maps the command line's
//! flag and exit-code types onto it.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use prebounce::input::{self, InputFormat as Format};
pub use prebounce::input::{pick_column, Row};

use super::args::InputFormat;
use super::config::UsageError;

/// All the inputs of a run; see [`prebounce::input::Inputs`].
pub struct Inputs(input::Inputs);

impl Inputs {
    /// Opens every input; a usage mistake becomes the CLI's [`UsageError`]
    /// (exit code 2).
    pub fn open(
        files: &[PathBuf],
        format: Option<InputFormat>,
        column: Option<&str>,
    ) -> anyhow::Result<Inputs> {
        let format = format.map(|f| match f {
            InputFormat::Text => Format::Text,
            InputFormat::Csv => Format::Csv,
        });
        input::Inputs::open(files, format, column)
            .map(Inputs)
            .map_err(|e| match e.downcast::<input::UsageError>() {
                Ok(usage) => UsageError(usage.0).into(),
                Err(e) => e,
            })
    }
}

impl Deref for Inputs {
    type Target = input::Inputs;

    fn deref(&self) -> &input::Inputs {
        &self.0
    }
}

impl DerefMut for Inputs {
    fn deref_mut(&mut self) -> &mut input::Inputs {
        &mut self.0
    }
}
