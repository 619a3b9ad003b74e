module github.com/libdaemon3143/libdaemon3143/bindings/go

go 1.19
