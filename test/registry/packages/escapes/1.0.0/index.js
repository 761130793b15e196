export * from "../../npm-runtime.js";
