//! The sources of a plugin that a development engine runs (`eddy dev`, docs/development.md):
//! the `dev` interface of the WIT. A JavaScript or Python plugin under `eddy dev` is served by
//! its language's prebuilt engine, the same component for every plugin of the language, which
//! asks for the plugin's code when an instance starts. Only such a component is given sources
//! ([`super::LoadedComponent`] holds them); any other component that imports `dev` gets
//! `forbidden`, so a plugin reads nothing through it that it was not built from.

use super::bindings::engine::eddy::plugin::dev;
use super::bindings::wit;
use super::store::CallCtx;

impl dev::Host for CallCtx {
    async fn sources(&mut self) -> Result<dev::PluginSources, wit::Error> {
        let Some(sources) = &self.sources else {
            return Err(wit::Error {
                code: wit::ErrorCode::Forbidden,
                message: "only a development engine of eddy dev may read a plugin's sources".into(),
            });
        };
        let files = sources
            .files
            .iter()
            .map(|(path, text)| dev::SourceFile { path: path.clone(), text: text.clone() })
            .collect();
        Ok(dev::PluginSources { entry: sources.entry.clone(), files })
    }
}
