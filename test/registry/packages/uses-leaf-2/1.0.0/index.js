exports.leafVersion = require("leaf").version;
