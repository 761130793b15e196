exports.load = (specifier) => require(specifier);
exports.missing = () => require("./not-there.js");
