//! Hand-written TOML files the host reads — a plugin's `plugin.toml` and the host's `eddy.toml`
//! — are read strictly (unknown keys are errors), and every error names the file, the line and
//! what to fix, because such a file is usually read back in a terminal. [`TomlFile`] reads one
//! and turns a span into its line.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A file that cannot be used, and where: `file:line: message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct FileError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file as a whole (unreadable).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// The text of one TOML file, for parsing it and placing errors in it.
pub struct TomlFile<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl TomlFile<'_> {
    /// Reads the file at `path`; an unreadable file is an error on line 0.
    pub fn read(path: &Path) -> Result<String, FileError> {
        std::fs::read_to_string(path).map_err(|e| FileError {
            file: path.to_path_buf(),
            line: 0,
            message: format!("cannot read: {e}"),
        })
    }

    /// The file deserialised as `T`; a syntax error, an unknown key or a value of the wrong
    /// type names its line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, FileError> {
        toml::from_str(self.text).map_err(|e| {
            let message = e.message().trim_end().to_string();
            self.error(e.span(), message)
        })
    }

    /// An error at `span` (line 1 when the problem has no place).
    pub fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> FileError {
        FileError {
            file: self.path.to_path_buf(),
            line: span.map_or(1, |s| line_of(self.text, s.start)),
            message: message.into(),
        }
    }
}

/// The 1-based line of `offset`; a problem at the very end of a file that ends with a newline
/// (an unclosed string, say) is on its last line, not on a line past the end.
fn line_of(text: &str, offset: usize) -> usize {
    let line = text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count();
    (line + 1).min(text.lines().count().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Two {
        a: u32,
        b: Option<String>,
    }

    #[test]
    fn an_unknown_key_names_its_line_and_the_file() {
        let text = "a = 1\n\nc = 2\n";
        let file = TomlFile { path: Path::new("/x/eddy.toml"), text };
        let error = file.parse::<Two>().err().unwrap();
        assert_eq!(error.line, 3);
        assert!(error.to_string().starts_with("/x/eddy.toml:3: unknown field `c`"), "{error}");
    }

    #[test]
    fn a_problem_at_the_end_of_the_file_is_on_its_last_line() {
        // Found by the `config` fuzz target: an unclosed string named line 3 of a 2-line file.
        let text = "a = 1\nb = \"\"\"open\n";
        let file = TomlFile { path: Path::new("/x/eddy.toml"), text };
        let error = file.parse::<Two>().err().unwrap();
        assert_eq!(error.line, 2, "{error}");
    }

    #[test]
    fn an_unreadable_file_is_an_error_of_the_whole_file() {
        let error = TomlFile::read(Path::new("/no/such/eddy.toml")).unwrap_err();
        assert_eq!(error.line, 0);
        assert!(error.to_string().starts_with("/no/such/eddy.toml: cannot read"), "{error}");
    }
}
