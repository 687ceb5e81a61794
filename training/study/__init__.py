"""The lab's studies: ``python -m training.study`` trains a sweep of arms and writes its report.

sweep (the arms, trained) -> analysis (numbers from their records) -> figures -> report (the page).
"""
