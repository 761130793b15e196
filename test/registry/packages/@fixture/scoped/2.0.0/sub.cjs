exports.sub = "cjs";
