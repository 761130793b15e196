exports.impl = "browser";
