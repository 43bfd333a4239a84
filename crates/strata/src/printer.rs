//! The one place that writes to the terminal: results to stdout, diagnostics and errors to
//! stderr. Tests use a printer that captures both.

use std::io::Write;

pub struct Printer {
    stdout: Box<dyn Write + Send>,
    stderr: Box<dyn Write + Send>,
}

impl Printer {
    pub fn stdio() -> Self {
        Printer {
            stdout: Box::new(std::io::stdout()),
            stderr: Box::new(std::io::stderr()),
        }
    }

    /// A result, for stdout (what a pipe or a file should get).
    pub fn out(&mut self, text: &str) {
        let _ = self.stdout.write_all(text.as_bytes());
        let _ = self.stdout.flush();
    }

    /// Stdout as a buffered writer, for a result too large to build as one string first.
    pub fn out_writer(&mut self) -> impl Write + '_ {
        std::io::BufWriter::with_capacity(1 << 16, &mut self.stdout)
    }

    /// Diagnostics and progress, for stderr.
    pub fn note(&mut self, text: &str) {
        let _ = self.stderr.write_all(text.as_bytes());
        let _ = self.stderr.flush();
    }

    pub fn error(&mut self, text: &str) {
        self.note(&format!("error: {text}\n"));
    }
}
