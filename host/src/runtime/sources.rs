//! A plugin's source files, as a development engine gets them (`dev.rs`).

/// A plugin's source files, as its engine gets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// The path of the module to run first, among `files`.
    pub entry: String,
    /// Each file's path in the plugin folder (with `/`) and its text.
    pub files: Vec<(String, String)>,
}
