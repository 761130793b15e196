module.exports = require("./impl.js");
