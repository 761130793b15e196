const fs = require("fs");

exports.fsKeys = Object.keys(fs).length;
exports.impl = require("./node-only.js").impl;
