let optional;
try {
  optional = require("does-not-exist");
} catch (err) {
  optional = err.code;
}
exports.optional = optional;
