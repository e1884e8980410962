"""Features on the shared window grid: audio (MFCC, log-mel, LFCC) and mouth-region signals."""
