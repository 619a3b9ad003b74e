module example.invalid/daemon3143

go 1.18
