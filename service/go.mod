module github.com/gopherops/gopherops/service

go 1.26.0
