// A placeholder: this plugin is refused for its plugin.toml.
export default { tools: {} };
