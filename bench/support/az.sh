#!/usr/bin/env bash
echo "az path not implemented yet" >&2; exit 1
