/* An empty C program: what a process costs to start and stop, the yardstick
 * bench/run.sh holds cnn-infer and cnn-summary against. */
int main(void)
{
    return 0;
}
