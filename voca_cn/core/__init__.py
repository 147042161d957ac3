"""The shared vocabulary every stage speaks: ARKit names, the phone inventory, the clock, signal
statistics, files, bounds. numpy only; imports nothing else of ours."""
