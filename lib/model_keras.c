/* Importing Keras model.to_json() exports (Sequential CNNs). */
#include "model_internal.h"

int cnn_keras_detect(const cJSON *root)
{
    return cJSON_GetObjectItemCaseSensitive(root, "class_name") != NULL;
}

int cnn_keras_import(const cJSON *root, const char *file, cnn_model *m, cnn_error *err)
{
    (void)root;
    (void)m;
    return cnn_errorf(err, "%s: Keras import is not written yet", file);
}
