"use strict";
const path = require("path");
const helper = require("./lib/helper");

exports.join = (...parts) => path.posix.join(...parts);
exports.shout = helper.shout;
exports.thisIsExports = this === module.exports;
exports.strict = (function () {
  return this === undefined;
})();
exports.filename = __filename;
