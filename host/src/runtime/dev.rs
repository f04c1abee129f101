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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::runtime::Sources;
    use crate::runtime::store::new_store;

    #[tokio::test]
    async fn only_a_development_engine_is_given_sources() {
        let engine = wasmtime::Engine::default();
        let mut plain = new_store(&engine, 1 << 20, None);
        let refused = dev::Host::sources(plain.data_mut()).await.expect_err("no sources");
        assert!(matches!(refused.code, wit::ErrorCode::Forbidden), "{}", refused.message);

        let files = vec![("index.js".to_string(), "export const handler = {};".to_string())];
        let sources = Sources { entry: "index.js".into(), files: files.clone() };
        let mut engine_store = new_store(&engine, 1 << 20, Some(Arc::new(sources)));
        let given = dev::Host::sources(engine_store.data_mut()).await.expect("its sources");
        assert_eq!(given.entry, "index.js");
        let given: Vec<(String, String)> =
            given.files.into_iter().map(|f| (f.path, f.text)).collect();
        assert_eq!(given, files);
    }
}
