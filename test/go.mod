module github.com/gopherops/gopherops/test

go 1.26.0
