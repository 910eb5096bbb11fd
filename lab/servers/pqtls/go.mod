module sentinel/lab/servers/pqtls

go 1.26
