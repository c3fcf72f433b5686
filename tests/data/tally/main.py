"""A tally that counts in its process and says nothing about its build: it runs until stopped."""

import time

count = 0
while True:
    count += 1
    time.sleep(1)
