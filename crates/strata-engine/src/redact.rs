//! Keeps secrets out of everything shown or written: every generated secret's value, and
//! every value fetched from a host, is replaced by asterisks in any text before it reaches a
//! terminal, a log or an event.

use std::collections::HashSet;
use std::sync::RwLock;

#[derive(Default)]
pub struct Redactor {
    /// Every value to mask, longest first (a secret that holds another is masked whole).
    secrets: RwLock<(Vec<String>, HashSet<String>)>,
}

const MASK: &str = "********";

impl Redactor {
    pub fn add(&self, secret: &str) {
        // Short values would mask ordinary words; generated secrets are long.
        if secret.len() < 8 {
            return;
        }
        // Rendering asks for the same secrets thousands of times: a read lock answers those.
        let known = |secrets: &(Vec<String>, HashSet<String>)| secrets.1.contains(secret);
        if known(&self.secrets.read().unwrap_or_else(|e| e.into_inner())) {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        if secrets.1.insert(secret.to_owned()) {
            let at = secrets.0.partition_point(|s| s.len() >= secret.len());
            secrets.0.insert(at, secret.to_owned());
        }
    }

    /// Learns every value the deployment keeps that must not be shown: generated secrets and
    /// the outputs fetched from hosts (keys among them; all treated as sensitive).
    pub fn learn(&self, state: &crate::State) -> Result<(), crate::EngineError> {
        for value in state.secret_values()? {
            self.add(&value);
        }
        for value in state.outputs()?.into_values() {
            self.add(&value);
        }
        Ok(())
    }

    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        secrets.0.iter().fold(text.to_owned(), |acc, s| {
            if acc.contains(s.as_str()) {
                acc.replace(s.as_str(), MASK)
            } else {
                acc
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_pass() {
        let r = Redactor::default();
        r.add("s3cr3t-value-123");
        r.add("short");
        assert_eq!(
            r.redact("pw=s3cr3t-value-123; s3cr3t-value-123"),
            "pw=********; ********"
        );
        assert_eq!(r.redact("short words stay"), "short words stay");
    }
}
