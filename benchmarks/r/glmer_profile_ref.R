suppressMessages(library(lme4))
cbpp <- read.csv("/work/shared/data/cbpp.csv"); cbpp$herd <- factor(cbpp$herd, levels=1:15); cbpp$period <- factor(cbpp$period)
gm <- glmer(cbind(incidence, size - incidence) ~ period + (1|herd), cbpp, family=binomial)
print(confint(gm, method="profile"), digits=10)
