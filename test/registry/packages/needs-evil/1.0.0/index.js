module.exports = require("leaf");
