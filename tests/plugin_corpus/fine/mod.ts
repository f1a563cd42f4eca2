import { definePlugin } from "../../../plugins/plugin.ts";

export default definePlugin({ tools: { go: () => ({ went: true }) } });
