//! `Outcome`: what a finished command leaves for `main`: the exact text for stdout and
//! stderr, and whether it passed (exit code 0) or found a problem (exit code 1).

use super::output::Output;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Printed as is (it ends with its own newline).
    pub stdout: String,
    /// Printed as is to stderr.
    pub stderr: String,
    /// False when the command ran but what it checked failed.
    pub passed: bool,
}

impl Outcome {
    /// Passed, printing `stdout`.
    pub fn passed(stdout: String) -> Self {
        Outcome {
            stdout,
            stderr: String::new(),
            passed: true,
        }
    }

    /// `stdout` printed, and passed only if `passed`.
    pub fn checked(stdout: String, passed: bool) -> Self {
        Outcome {
            passed,
            ..Outcome::passed(stdout)
        }
    }

    /// A command's output as one line of JSON (`--json`) or as text, and passed.
    pub fn printed(out: &Output, json: bool) -> Self {
        if json {
            Outcome::passed(format!("{}\n", out.json))
        } else {
            Outcome::passed(format!("{}\n", out.human))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_or_text_is_printed_on_its_own_line() {
        let out = Output {
            human: "order #1".into(),
            json: serde_json::json!({"number": 1}),
        };
        assert_eq!(Outcome::printed(&out, false).stdout, "order #1\n");
        let json = Outcome::printed(&out, true);
        assert_eq!(json.stdout, "{\"number\":1}\n");
        assert!(json.passed && json.stderr.is_empty());
        assert!(!Outcome::checked(String::new(), false).passed);
    }
}
